"""tissue_mib.pp"""
