"""The solution's library: what the answers add on top of the course layer.

Import its modules by name (``from v1_orientation.solution import rsa_inference``), so that a
reader of the notebook sees which layer each call comes from. Not shipped to students.
"""
