"""tissue_mib.pl"""
