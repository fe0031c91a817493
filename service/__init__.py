"""The scoring REST API that vendors' child-support systems call."""
