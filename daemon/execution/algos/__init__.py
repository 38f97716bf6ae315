"""Execution algorithms: parent orders (TWAP, POV) worked as children through the risk gate."""
