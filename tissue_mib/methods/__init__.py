"""tissue_mib.methods"""
