"""The course layer: what every student gets (``ccn_helpers`` re-exports its public names).

Modules: ``runtime`` (seeds, device), ``recording`` (``load_data``, the class split),
``provenance`` (``DataFile``, a user's file), ``surrogate`` (``simulate_stringer``),
``download`` (``fetch_data``), ``stimuli`` (gratings, filters), ``networks`` (``CNN``,
``DeepNetReLU``, ``get_hidden_activity``), ``training`` (``train``, ``train_decoder``,
``predict``) and ``rdm`` (``RDM``, ``compare_rdms``). Nothing here imports
``v1_orientation.solution``.
"""
