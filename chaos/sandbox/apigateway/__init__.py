"""Amazon API Gateway (REST APIs): the stage's HTTP front, as API Gateway serves it.

moto stores REST APIs but serves none of them. Here the deployed stage is served on
127.0.0.1: the associated web ACL first, then routing (:mod:`.routing`), the Lambda proxy
and custom integrations (:mod:`.lambda_integration`), and ``GetExport`` of a stage's
deployment (:mod:`.stage_export`).
"""
