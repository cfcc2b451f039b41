#!/usr/bin/perl

# The idle connections of the module's own pool (ci_jobs_keepalive), over
# TLS.  One that CI closes while it waits in the pool is closed by nginx
# then: the next request goes out at once on a new connection that resumes
# the TLS session, with nothing logged as an error.  A reload closes them:
# the old worker leaves at once, not when they time out.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Time::HiRes qw(sleep time);
use Test::More;

my $t = CiJobsTest->new(
    emulators => {
        closing => { tls => 'good', idle_timeout => 200 },
        kept => { tls => 'good' },
    },
    http => <<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;

        %%CREDENTIALS%%
        ci_jobs_ssl_trusted_certificate %%CA%%;

        # a request that hangs fails the test quickly, as a 504
        ci_jobs_read_timeout 3s;

        location /closing/ {
            ci_jobs on;
            ci_jobs_pass https://127.0.0.1:%%EMU_closing%%;
        }

        location /kept/ {
            ci_jobs on;
            ci_jobs_pass https://127.0.0.1:%%EMU_kept%%;
        }
    }
EOF

my $ID = 'jobsSuccess1';

sub connections {
    my %pid = map { $_->{pid} => 1 } @_;
    return scalar keys %pid;
}

# CI's idle timeout (200 ms) closes the pooled connection between two
# requests
my @answers = ($t->get("/closing/jobs/$ID"));
sleep 0.8;
push @answers, $t->get("/closing/jobs/$ID");
is_deeply([ map { $_->{status} } @answers ], [ 200, 200 ],
          'CI closes an idle pooled connection: both requests answered');
like($answers[1]{body}, qr/<JobId>$ID</, 'the second with the job');
my @seen = $t->upstream_requests('closing');
is(connections(@seen), 2, 'the second on a new connection');
is_deeply([ map { $_->{tls_resumed} ? 1 : 0 } @seen ], [ 0, 1 ],
          'which resumes the TLS session of the first');
my @errors = grep { /\[error\]/ } split /\n/, $t->error_log;
is_deeply(\@errors, [],
          'the close is noticed while idle: no request fails on it');

# a reload, with a connection idle in the pool
is($t->get("/kept/jobs/$ID")->{status}, 200, 'a connection left in the pool');
my $start = time;
$t->reload;
my $took = time - $start;
my $limit = $ENV{TEST_NGINX_VALGRIND} ? 30 : 5;
ok($took < $limit, 'a reload: the old worker closes its idle connections '
                   . sprintf('and leaves at once (%.1f s)', $took));
is($t->get("/kept/jobs/$ID")->{status}, 200,
   'the new worker answers, on a connection of its own');
is(connections($t->upstream_requests('kept')), 2,
   'two connections in all');

$t->done;
done_testing;
