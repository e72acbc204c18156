# Acknowledgement links are now signed; the table only records that a link was used.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("paging", "0001_initial"),
    ]

    operations = [
        migrations.DeleteModel(name="AckToken"),
        migrations.CreateModel(
            name="AckToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("used_at", models.DateTimeField()),
                (
                    "notification",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="ack_use", to="paging.notification"
                    ),
                ),
            ],
        ),
    ]
