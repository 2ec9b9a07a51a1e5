"""AWS WAF: a web ACL evaluated on every request of the HTTP front, rate-based rules included.

moto stores web ACLs and evaluates none of them; :mod:`.engine` does, as AWS WAF documents it.
"""
