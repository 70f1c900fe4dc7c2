"""CDS Hooks: discovery, patient-view and order-sign/order-select services, feedback, JWT auth.

The router (:mod:`service.cds.routes`) is mounted by :func:`service.app.create_app`.
"""
