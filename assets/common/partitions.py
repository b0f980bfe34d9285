from dagster import StaticPartitionsDefinition

from thinkforge import DOMAINS

domain_partitions = StaticPartitionsDefinition(list(DOMAINS))
