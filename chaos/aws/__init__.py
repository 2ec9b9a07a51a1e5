"""chaos.aws"""
