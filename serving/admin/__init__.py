"""`python -m serving.admin`: the gateway's admin API from the command line (serving/gateway/core/lifecycle)."""
