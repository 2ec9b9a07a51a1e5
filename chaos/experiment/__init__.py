"""chaos.experiment"""
