"""tissue_mib.nn"""
