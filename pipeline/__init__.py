"""Consolidation of the periodic "dân vận chính quyền" reports of Bình Định province."""

__version__ = "0.1.0"
