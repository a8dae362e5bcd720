"""tissue_mib.datasets"""
