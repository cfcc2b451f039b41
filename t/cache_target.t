#!/usr/bin/perl

# The cache key names the target: a staging location reaching another CI
# (another ci_jobs_pass, or TLS verification off) with the same bucket and
# credentials, in the same zone, never answers production's requests with
# what its own CI said, nor the other way round.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Test::More;

my $t = CiJobsTest->new(
    workers => 2,
    emulators => { prod => {}, staging => {} },
    http => <<'EOF');
    ci_jobs_cache_zone shared:1m;

    server {
        listen 127.0.0.1:%%PORT%%;

        %%CREDENTIALS%%
        add_header X-Cache $ci_jobs_cache_status always;

        location /prod/ {
            ci_jobs on;
            ci_jobs_cache shared;
            ci_jobs_pass http://127.0.0.1:%%EMU_prod%%;
        }

        location /staging/ {
            ci_jobs on;
            ci_jobs_cache shared;
            ci_jobs_pass http://127.0.0.1:%%EMU_staging%%;
        }
    }
EOF

sub state_of { ($_[0]{body} =~ m{<State>(\w+)</State>})[0] // '' }

# faultstate: Submitted, Running, then Success, counted by each emulator
my $r;
$r = $t->get('/staging/jobs/faultstate') for 1 .. 3;
is(state_of($r), 'Success', 'staging\'s CI: the job finished');
is($t->get('/staging/jobs/faultstate')->{headers}{'x-cache'}, 'HIT',
   'and cached');

$r = $t->get('/prod/jobs/faultstate');
is($r->{status}, 200, 'production: 200');
is(state_of($r), 'Submitted', 'from production\'s CI, where it has not');
isnt($r->{headers}{'x-cache'}, 'HIT', 'not staging\'s entry');
is(scalar(my @p = $t->upstream_requests('prod')), 1,
   'production\'s CI was asked');

$t->done;
done_testing;
