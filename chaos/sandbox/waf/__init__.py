"""AWS WAF: a web ACL evaluated on every request of the HTTP front, rate-based rules included.

moto stores web ACLs and evaluates none of them; here, as AWS WAF documents it:
:mod:`.engine` runs the rules in priority order, :mod:`.rules` parses a rule (action,
statement, block response), :mod:`.statements` matches what a rule inspects (and a rate
rule's aggregation key), :mod:`.rate` counts rate-based rules over their evaluation window
and checks them periodically; :mod:`.request` is what the front hands in and gets back.
"""
