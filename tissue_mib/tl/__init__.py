"""tissue_mib.tl"""
