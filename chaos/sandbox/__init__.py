"""chaos.sandbox"""
