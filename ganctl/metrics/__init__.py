"""ganctl.metrics"""
