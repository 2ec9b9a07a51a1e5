"""Load: the Locust driver (separate processes), WAF discovery and traffic plans."""
