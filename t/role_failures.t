#!/usr/bin/perl

# Role credentials when the metadata service fails: 503
# CredentialsUnavailable before the first fetch, the last good
# credentials kept until they expire, one error per streak naming the
# URL, retries until the service answers again; every way an answer can
# be unusable; and the configurations nginx -t refuses.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Time::HiRes qw(sleep time);
use Test::More;

# Keys that live three rotations: refreshed with a third of their life
# left, they still sign at least 2 s after a failed fetch (with 8 s, as
# little as 1 s: too short a window to look at on a busy machine).
my $t = CiJobsTest->new(
    metadata => { period => 4, lifetime => 12 },
    emulators => { role => { secrets_file => 1 } },
    start => 0,
    http => <<'EOF');
    ci_jobs_bucket examplebucket-1250000000;
    ci_jobs_region ap-beijing;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /named/ {
            ci_jobs on;
            ci_jobs_credentials_role ci-gateway;
            ci_jobs_metadata_url %%META%%;
            ci_jobs_pass http://127.0.0.1:%%EMU_role%%;
        }

        location /auto/ {
            ci_jobs on;
            ci_jobs_credentials_role auto;
            ci_jobs_metadata_url %%META%%;
            ci_jobs_pass http://127.0.0.1:%%EMU_role%%;
            ci_jobs_json on;
        }
    }
EOF

my $named = qr{security-credentials/ci-gateway" not fetched};
my $auto = qr{security-credentials/" not fetched};

sub lines_of { my ($re) = @_; my @l = $t->error_log =~ /($re[^\n]*)/g; @l }
sub status_of { $t->get("/$_[0]/jobs/jobsSuccess1")->{status} }
sub until_status {
    my ($where, $status, $seconds) = @_;
    return CiJobsTest::wait_for(sub { status_of($where) == $status },
                                $seconds);
}

# --- nginx -t -------------------------------------------------------------------

my $loc = sub { "server { listen 127.0.0.1:%%PORT%%; location /x/ { ci_jobs on;"
              . " ci_jobs_bucket examplebucket-1250000000;"
              . " ci_jobs_region ap-beijing;"
              . " ci_jobs_pass http://127.0.0.1:%%EMU_role%%; $_[0] } }" };

my ($rc, $out) = $t->nginx_test($loc->('ci_jobs_credentials_role r1;'
                                       . ' ci_jobs_secret_id AKID1;'
                                       . ' ci_jobs_secret_key k1;'));
isnt($rc, 0, 'a role and inline keys: refused');
like($out, qr/"ci_jobs_credentials_role".*use one source/, 'saying so');

($rc, $out) = $t->nginx_test($loc->('ci_jobs_credentials_role r1;'
                                    . ' ci_jobs_credentials_file /etc/x;'));
isnt($rc, 0, 'a role and a credentials file: refused');

($rc, $out) = $t->nginx_test($loc->('ci_jobs_credentials_role a/b;'));
like($out, qr/invalid "ci_jobs_credentials_role"/, 'a bad role name');

($rc, $out) = $t->nginx_test($loc->('ci_jobs_credentials_role r1;'
                                    . ' ci_jobs_metadata_url https://x/;'));
like($out, qr/invalid "ci_jobs_metadata_url"/, 'a metadata URL not http://');

($rc, $out) = $t->nginx_test($loc->('ci_jobs_credentials_role r1;'
                                    . ' ci_jobs_metadata_url %%META%%;'));
is($rc, 0, 'a role: nginx -t passes') or diag($out);
my @asked = $t->metadata_requests;
is(scalar @asked, 0, 'and nginx -t fetched nothing');

# --- before the first fetch -----------------------------------------------------

$t->metadata_mode('500');
$t->start_nginx;

my $r = $t->get('/named/jobs/jobsSuccess1');
is($r->{status}, 503, 'no credentials yet: 503');
is(CiJobsTest::error_code($r), 'CredentialsUnavailable', 'in CI\'s shape');
$r = $t->get('/auto/jobs/jobsSuccess1');
like($r->{body}, qr/^\{"Error":\{"Code":"CredentialsUnavailable"/,
     'and in JSON where the location answers JSON');
my @sent = $t->upstream_requests('role');
is(scalar @sent, 0, 'nothing was sent to CI');

sleep 4.5;
my @named = lines_of($named);
is(scalar @named, 1, 'failures logged once for the streak')
    or diag(join "\n", @named);
like($named[0] // '', qr/answered 500\), gateway requests are answered 503/,
     'with the status, and what it means');
ok(scalar(grep { $_->{path} =~ /ci-gateway$/ } $t->metadata_requests) >= 3,
   'nginx kept trying');

$t->metadata_mode('ok');
ok(until_status('named', 200, 12), 'the service answers again: 200');
ok(until_status('auto', 200, 12), 'auto takes the first role listed: 200');
like($t->error_log, qr/fetched from "[^"]+ci-gateway" again/,
     'the recovery is logged');
ok(scalar(grep { $_->{path} =~ m{/$} } $t->metadata_requests) >= 1,
   'auto asked for the list of roles');

# --- every unusable answer: the last good credentials keep signing ----------

for my $case (['malformed', qr/not a valid JSON object/],
              ['code', qr/Code is not Success/],
              ['past', qr/ExpiredTime is in the past/],
              ['norole', qr/no such role 404/],
              ['timeout', qr/the answer timed out/])
{
    my ($mode, $why) = @$case;
    my $before = () = lines_of($named);
    $t->metadata_mode($mode);
    ok(CiJobsTest::wait_for(sub { lines_of($named) > $before }, 15),
       "$mode: the failure is logged");
    my @new = (lines_of($named))[$before .. lines_of($named) - 1];
    like($new[0] // '', $why, "$mode: saying why");
    unlike(join('', @new), qr/rolekey|roletoken/, "$mode: no value quoted");

    # the 3 s a fetch may take outlast what is left of these keys
    if ($mode ne 'timeout') {
        like($new[0] // '', qr/keeping the last good ones until they expire/,
             "$mode: keeping the last good credentials");
        is(status_of('named'), 200, "$mode: which still sign");
    }
    my $again = () = lines_of(qr/ci-gateway" again/);
    $t->metadata_mode('ok');
    ok(CiJobsTest::wait_for(sub { lines_of(qr/ci-gateway" again/) > $again },
                            15),
       "$mode: then fresh ones again, the streak over");
    ok(until_status('named', 200, 12) && until_status('auto', 200, 12),
       "$mode: 200");
}

# --- an empty list of roles, for auto ------------------------------------------

# A list fetch that hung in "timeout" fails up to 3 s after the service
# answers again, and opens a streak of its own: its failure line would be
# taken for the next case's.  Each streak is over once it is logged over.
sleep 3.5;
ok(CiJobsTest::wait_for(sub {
       lines_of($auto) == lines_of(qr{security-credentials/" again}) }, 15),
   'auto: every streak of failures over');

{
    my $before = () = lines_of($auto);
    $t->metadata_mode('empty');
    ok(CiJobsTest::wait_for(sub { lines_of($auto) > $before }, 15),
       'an empty role list: logged');
    like((lines_of($auto))[-1], qr/the role list is empty/, 'saying so');
    $t->metadata_mode('ok');
    ok(until_status('auto', 200, 12), 'then a role again');
}

# --- a role named "..", for auto: refused, never requested --------------------

ok(CiJobsTest::wait_for(sub {
       lines_of($auto) == lines_of(qr{security-credentials/" again}) }, 15),
   'auto: the streak of the empty list over');

{
    my $before = () = lines_of($auto);
    $t->metadata_mode('dotrole');
    ok(CiJobsTest::wait_for(sub { lines_of($auto) > $before }, 15),
       'a role list naming "..": logged');
    like((lines_of($auto))[-1], qr/the first role name is not valid/,
         'the name refused');
    is(scalar(grep { $_->{path} =~ m{/\.\.$} } $t->metadata_requests), 0,
       'the role ".." was never requested');
    $t->metadata_mode('ok');
    ok(until_status('auto', 200, 12), 'then a role again');
}

# --- a keep-alive service: its answers end at their Content-Length ---------------

{
    my $before = () = lines_of($named);
    my $start = time;
    $t->metadata_mode('keepalive');
    ok(CiJobsTest::wait_for(sub {
           scalar(grep { $_->{mode} eq 'keepalive' && $_->{time} >= $start
                         && $_->{path} =~ /ci-gateway$/ }
                  $t->metadata_requests) >= 3 }, 30),
       'a keep-alive service is asked again');
    sleep 3.5;
    is(scalar(() = lines_of($named)), $before,
       'and no fetch failed waiting for it to close')
        or diag((lines_of($named))[-1]);
    is(status_of('named'), 200, 'its credentials sign');
    $t->metadata_mode('ok');
}

# --- the metadata service down --------------------------------------------------

$t->stop_metadata;
my $stopped = time;
is(status_of('named'), 200, 'the service down: the last good keys sign');
ok(until_status('named', 503, 20), 'until they expire: then 503');
my $lasted = time - $stopped;
ok($lasted > 1, sprintf 'they were used %.1fs after the service went', $lasted);
like((lines_of($named))[-1], qr/cannot connect|connection failed/,
     'the connection failure is logged');

$t->start_metadata;
ok(until_status('named', 200, 15), 'the service back: 200 again');

$t->done;
done_testing;
