"""tissue_mib.nn.objectives"""
