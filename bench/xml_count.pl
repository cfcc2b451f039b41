#!/usr/bin/perl

# Instructions per byte of the XML pass on the gateway benchmark's seed
# answer, in each of bench/xml_bench.c's modes, counted by callgrind (stable on a busy
# machine, unlike times):
#
#   perl bench/xml_count.pl build/xml_bench [RUNS]

use strict;
use warnings;

my ($bench, $runs) = @ARGV;
$runs //= 200;

my $out = "$bench.callgrind";
my $cmd = "valgrind --tool=callgrind --callgrind-out-file=$out";
my $log = `$cmd $bench seed $runs 2>&1`;
$? == 0 or die $log;
my ($len) = $log =~ /seed answer: (\d+) bytes/ or die $log;

my $annotate = `callgrind_annotate --inclusive=yes $out 2>/dev/null`;

for my $f ([ 'seed_pass', 'XML' ], [ 'seed_pass_bare', 'XML, no cache' ],
           [ 'seed_pass_json', 'JSON' ],
           [ 'seed_pass_libxml', 'XML, read by libxml2' ],
           [ 'seed_libxml2', 'libxml2 alone, empty SAX2 handler' ])
{
    my ($ir) = $annotate =~ /^\s*([\d,]+)\s+\([\d.\s]+%\)\s+\S*:$f->[0]\b/m
        or die "no $f->[0] in the profile\n";
    $ir =~ tr/,//d;
    printf "seed answer %d bytes, %s: %.0f instructions a pass, "
           . "%.1f a byte (callgrind)\n",
           $len, $f->[1], $ir / $runs, $ir / $runs / $len;
}
