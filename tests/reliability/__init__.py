"""Reliability and security suite (issue 9): bad inputs and faults, with nothing lost."""
