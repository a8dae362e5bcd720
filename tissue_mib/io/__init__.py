"""tissue_mib.io"""
