#!/bin/sh
# The include graph of engine/ follows the stated layer order.
sh scripts/check_layers.sh
