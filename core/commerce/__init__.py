"""The mall meets an online shop.

Orders and refunds, points from purchases, customers, API keys, links after checkout,
points paying at the checkout, CSV orders, what the admin reads of it. The platforms'
webhooks as neutral events are in ``core/platforms/``.
"""
