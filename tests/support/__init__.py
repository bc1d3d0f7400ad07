"""Helpers shared by tests (model builders); no tests here."""
