from django.urls import path

from hisguard.response import views

urlpatterns = [
    path("incidents/<int:pk>/response/playbook/", views.attach_playbook, name="response-attach-playbook"),
    path("incidents/<int:pk>/response/steps/<int:run_id>/done/", views.step_done, name="response-step-done"),
    path(
        "incidents/<int:pk>/response/steps/<int:run_id>/reopen/",
        views.step_reopen,
        name="response-step-reopen",
    ),
    path("incidents/<int:pk>/response/team/", views.assign_role, name="response-assign"),
    path(
        "incidents/<int:pk>/response/team/<int:assignment_id>/relieve/",
        views.relieve,
        name="response-relieve",
    ),
    path("incidents/<int:pk>/response/emergency/declare/", views.declare, name="response-declare"),
    path("incidents/<int:pk>/response/emergency/end/", views.end_emergency, name="response-end-emergency"),
    path("incidents/<int:pk>/response/assessment/", views.assess, name="response-assess"),
    path("incidents/<int:pk>/response/resources/", views.add_resource, name="response-resource"),
    path(
        "incidents/<int:pk>/response/resources/<int:need_id>/arranged/",
        views.arrange_resource,
        name="response-resource-arranged",
    ),
    path("incidents/<int:pk>/response/contacts/", views.log_contact, name="response-contact-log"),
    path("incidents/<int:pk>/back-entry/", views.backentry_page, name="response-backentry"),
    path("incidents/<int:pk>/back-entry/paper/", views.record_paper, name="response-paper"),
    path("incidents/<int:pk>/back-entry/<int:record_id>/entered/", views.back_enter, name="response-entered"),
    path("incidents/<int:pk>/back-entry/waive/", views.waive, name="response-waive"),
    path("incidents/<int:pk>/response/recovery/", views.start_recovery, name="response-recovery-start"),
    path(
        "incidents/<int:pk>/response/recovery/<int:recovery_id>/",
        views.record_recovery,
        name="response-recovery-record",
    ),
    path(
        "incidents/<int:pk>/response/recovery/<int:recovery_id>/verify/",
        views.verify_recovery,
        name="response-recovery-verify",
    ),
    path("incidents/<int:pk>/response/checks/<int:check_id>/", views.check_item, name="response-check"),
    path("incidents/<int:pk>/response/announce/", views.announce, name="response-announce"),
    path("incidents/<int:pk>/response/eta/", views.set_eta, name="response-eta"),
    path("incidents/<int:pk>/review/", views.review_page, name="response-review"),
    path("incidents/<int:pk>/review/save/", views.review_save, name="response-review-save"),
    path("incidents/<int:pk>/review/follow-ups/", views.follow_up_add, name="response-follow-up-add"),
    path("incidents/<int:pk>/review/export.html", views.review_export_html, name="response-review-html"),
    path("incidents/<int:pk>/review/export.pdf", views.review_export_pdf, name="response-review-pdf"),
    path("response/follow-ups/", views.follow_ups, name="response-follow-ups"),
    path(
        "response/follow-ups/<int:action_id>/close/", views.follow_up_close, name="response-follow-up-close"
    ),
    path("command/", views.command, name="command-dashboard"),
    path("command/live/", views.command_live, name="command-live"),
    path("response/", views.plans, name="response-plans"),
    path("response/playbooks/<int:pk>/", views.playbook_page, name="response-playbook"),
    path("response/playbooks/<int:pk>/steps/", views.playbook_step_add, name="response-step-add"),
    path(
        "response/playbooks/<int:pk>/steps/<int:step_id>/",
        views.playbook_step_edit,
        name="response-step-edit",
    ),
    path("response/procedures/", views.procedures, name="response-procedures"),
    path(
        "response/procedures/departments/<int:pk>/",
        views.department_procedures,
        name="response-department-procedures",
    ),
    path(
        "response/procedures/departments/<int:pk>/print/",
        views.department_procedures_print,
        name="response-procedures-print",
    ),
    path("response/procedures/<int:pk>/", views.procedure_edit, name="response-procedure-edit"),
    path("response/stock/<int:pk>/", views.stock_edit, name="response-stock-edit"),
    path("response/ranges/", views.ranges, name="response-ranges"),
    path("response/ranges/add/", views.range_add, name="response-range-add"),
    path("response/ranges/<int:pk>/delete/", views.range_delete, name="response-range-delete"),
    path("response/contacts/", views.contacts, name="response-contacts"),
    path("response/contacts/add/", views.contact_add, name="response-contact-add"),
]
