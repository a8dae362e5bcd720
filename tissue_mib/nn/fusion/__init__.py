"""tissue_mib.nn.fusion"""
