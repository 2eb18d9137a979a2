"""The Prefect layer: thin tasks around automl's steps, the flow, and the CLI."""
