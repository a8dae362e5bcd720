"""tissue_mib.train"""
