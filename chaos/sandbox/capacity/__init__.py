"""Compute capacity over Availability Zones: Amazon ECS services and EC2 Auto Scaling groups.

moto schedules nothing: here ECS tasks (:mod:`.ecs`) and Auto Scaling instances
(:mod:`.asg`) are spread over their subnets' AZs and follow subnet changes with AWS's
timing (:mod:`.az_spread`, :mod:`.placement`), and each subnet's network ACL decides
whether its traffic gets out (:mod:`.egress`).
"""
