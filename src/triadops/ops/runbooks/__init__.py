"""Troubleshooting runbooks: the catalogue of scenarios, and the flow that runs one."""
