"""Blind boxes, the mall's game of chance.

The draw and its guarantee, the draw's pure math, a box's prize table and true odds,
the server and client seeds that make draws verifiable, boxes as admins author them.
"""
