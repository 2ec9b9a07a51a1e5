"""chaos.report"""
