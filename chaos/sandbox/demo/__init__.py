"""The demo service seeded into the sandbox at start (fixed names, see PRODUCT.md).

:mod:`.seed` creates it through boto3, :mod:`.orders_function` is the ``orders`` function's
code, :mod:`.janitor` deploys the real janitor against the sandbox's journal bucket.
"""
