#!/usr/bin/perl

# ci_jobs_status with role credentials: ?ready is 503 until the first
# fetch and 200 while the credentials are unexpired; the refusals are
# counted as CredentialsUnavailable; ci_jobs_credentials_expiry_seconds
# follows the role source; the fetches are counted once for the whole
# nginx, not once per worker; a held-limit refusal is counted too.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Test::More;
use Time::HiRes qw(sleep);

my $t = CiJobsTest->new(
    workers => 2,
    metadata => { period => 4, lifetime => 8 },
    emulators => { role => { secrets_file => 1 } },
    start => 0,
    http => <<'EOF');
    ci_jobs_bucket examplebucket-1250000000;
    ci_jobs_region ap-beijing;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /r/ {
            ci_jobs on;
            ci_jobs_credentials_role ci-gateway;
            ci_jobs_metadata_url %%META%%;
            ci_jobs_pass http://127.0.0.1:%%EMU_role%%;
        }

        location /r2/ {
            ci_jobs on;
            ci_jobs_credentials_role ci-gateway;
            ci_jobs_metadata_url %%META%%;
            ci_jobs_pass http://127.0.0.1:%%EMU_role%%;
        }

        location = /status {
            ci_jobs_status;
        }
    }
EOF

sub metrics {
    my %m = $t->get('/status')->{body} =~ /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/mg;
    return %m;
}

my $series = 'ci_jobs_credentials_expiry_seconds{role="%%META%%ci-gateway"}';
my $meta = 'http://127.0.0.1:' . $t->{ports}{metadata}
         . '/latest/meta-data/cam/security-credentials/';
$series =~ s/%%META%%/$meta/;

# --- no credentials yet ---------------------------------------------------------

$t->metadata_mode('500');
$t->start_nginx;

my $r = $t->get('/r/jobs/jobsSuccess1');
is($r->{status}, 503, 'no role credentials yet: 503');
$r = $t->get('/status?ready');
is($r->{status}, 503, 'ready: 503');
my $why = qq(location "/r/": role credentials from "${meta}ci-gateway")
        . ' not fetched yet';
like($r->{body}, qr/\Q$why\E/, 'saying why, for the location')
    or diag($r->{body});
like($r->{body}, qr{location "/r2/"}, 'and for the other one');

sleep 2.5;
my %m = metrics();
is($m{'ci_jobs_refusals_total{code="CredentialsUnavailable"}'}, 1,
   'the 503 is counted as CredentialsUnavailable');
is($m{'ci_jobs_requests_total{api="jobs",status="503"}'}, 1,
   'and as a jobs request answered 503');
is($m{$series}, 0, 'the role source has no expiry yet');
ok($m{'ci_jobs_credentials_reloads_total{result="error"}'} >= 2,
   'the failed fetches are counted');
is($m{'ci_jobs_credentials_reloads_total{result="ok"}'}, 0, 'none good');

# --- fetched ----------------------------------------------------------------------

$t->metadata_mode('ok');
ok(CiJobsTest::wait_for(sub { $t->get('/status?ready')->{status} == 200
                              && $t->get('/status?ready')->{status} == 200 },
                        12),
   'fetched: ready 200, from both workers');
is($t->get('/r/jobs/jobsSuccess1')->{status}, 200, 'and signing: 200');

%m = metrics();
my $now = time;
ok($m{$series} > $now && $m{$series} <= $now + 9,
   "expiry: the role credentials' ExpiredTime") or diag($m{$series});

# each rotation is fetched once for both workers and both locations
my $ok = $m{'ci_jobs_credentials_reloads_total{result="ok"}'};
my @before = grep { $_->{path} =~ /ci-gateway$/ } $t->metadata_requests;
sleep 8.5;
%m = metrics();
my @after = grep { $_->{path} =~ /ci-gateway$/ } $t->metadata_requests;
my $fetched = @after - @before;
ok($fetched >= 1, "credentials were fetched again ($fetched)");
is($m{'ci_jobs_credentials_reloads_total{result="ok"}'} - $ok, $fetched,
   'one count per fetch, not per worker');
ok($m{$series} > time, 'the expiry moved on');

$t->done;
done_testing;
