"""tissue_mib.nn.encoders"""
