"""Glue's HTTP API: awsJson1_1 over Starlette; the table of operations maps X-Amz-Target to the service layer."""
