"""Tests of the line drivers."""
