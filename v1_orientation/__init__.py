"""Mouse V1 orientation coding: the helpers and the solution of "Assignment 3 - Interpret data".

Two layers, each module one concept, importing only downward:

- ``v1_orientation.course``: what the assignment gives every student: runtime (seeds,
  device), the data (download, provenance, a user's file, the offline surrogate,
  ``load_data``, the class split), stimuli, networks and their trainers, and ``RDM``.
- ``v1_orientation.solution``: what the answers add: circular decoders and model selection,
  RSA inference and controls, tuning-curve fits, embeddings, Part 2's population analysis,
  statistics, result tables and plotting.

The course layer never imports the solution's library. The top-level module ``ccn_helpers``
is the flat face of the course layer that the template's cells import.
"""

__version__ = "1.0.0"
