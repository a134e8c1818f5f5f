"""Checker tests; a package so that their names may repeat those of the package tests
(test_bptt.py)."""
