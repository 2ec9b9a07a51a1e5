"""chaos.faults"""
