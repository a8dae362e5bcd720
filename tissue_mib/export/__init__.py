"""tissue_mib.export: flagged regions as files other tools open (GeoJSON for QuPath)."""
