"""The revisions, oldest first: ``rev1_initial``, ``rev2_studies``, ``rev3_leases``."""
