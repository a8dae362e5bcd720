"""tissue_mib.bench"""
