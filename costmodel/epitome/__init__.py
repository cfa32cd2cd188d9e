"""Epitome layers on in-memory arrays (EPIM, DAC 2024; MODEL.md section 11).

:mod:`~costmodel.epitome.mapping` lays each weighted layer's stored matrix (its full
kernel, or its epitome) at its precision onto arrays, for a network or per design;
:mod:`~costmodel.epitome.support` is the technology file's ``epitome:`` section (address
tables and routing muxes); :mod:`~costmodel.epitome.overheads` what they cost a batch;
:mod:`~costmodel.epitome.passes` the reference's pass-by-pass figures.
"""
